"""Scheduled wellbeing calls (お元気コール): schedules, the check call, and the scheduler."""
