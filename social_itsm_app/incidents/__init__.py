"""Early warning: outages heard in the chatter become one Social Incident, its tickets and its broadcasts."""
