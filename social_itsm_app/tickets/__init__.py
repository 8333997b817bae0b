"""The ticket side: turning posts into HD Tickets or Issues, threading later posts onto them."""
