"""One of each test double, shared by the test suite and the benchmarks.

It lives outside tests/ so that bench/ never imports the test suite: what a benchmark
needs from the harness (the fake Discord, `testkit.fakediscord`, among it) lives here.

    clock.SettlingClock        the core's FakeClock, plus "wait until the moderators are quiet"
    wakers.RecordingWaker      a Waker that records (and can fail N times or always)
    calendars.FaultyCalendar   a real Calendar with faults injected per method/action
    http_faults.FaultSwitch    the same idea one level out: faults in the calendar's HTTP answers
    spawn.SpawnReceiver        a real spawn webhook on loopback
    bots                       running the real ModeratorBot in-process against the fake Discord
    processes                  running `python -m bot` as a subprocess against the fake Discord
"""
