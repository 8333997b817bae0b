"""Moved to :mod:`social_itsm_app.people.identities`; this old path stays only for tests/site (issue 15 item 1
moves those tests into the app; drop this file when they import the new path).

The module itself is aliased, not copied, so ``patch.object(identities, ...)`` still patches the real one.
"""

import sys

from social_itsm_app.people import identities

sys.modules[__name__] = identities
