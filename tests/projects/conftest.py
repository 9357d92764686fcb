"""Example projects that tests copy and run with `harness`; pytest's harness plugin must not collect their suites."""

collect_ignore_glob = ["*"]
