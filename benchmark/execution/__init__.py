"""Planning and execution: the plan of cells (`plan`), the runner of one cell (`runner`),
the executors that run a plan inline, on local workers or on SLURM (`executors`,
`executor_settings`, `jobs`), the output folder's manifest and `bench status` (`status`),
progress display and provenance. Reads the protocol stages and writes records."""
