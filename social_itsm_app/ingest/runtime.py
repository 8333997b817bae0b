"""Moved to :mod:`social_itsm_app.channels.runtime`; this old path stays only for tests/site (issue 15 item 1
moves those tests into the app; drop this file when they import the new path).

The module itself is aliased, not copied, so ``patch.object(runtime, ...)`` still patches the real one.
"""

import sys

from social_itsm_app.channels import runtime

sys.modules[__name__] = runtime
