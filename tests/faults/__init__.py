"""Fault-injection tests: Discord and calendar faults, crashes, bad input, two moderators."""
