"""Tests of the fake Discord itself (testkit/fakediscord): its wire follows Discord's rules."""
