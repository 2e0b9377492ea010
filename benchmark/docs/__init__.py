"""Documentation pages generated from the code: the methods and tasks references from
their registries, the CLI reference from the argparse parsers (`benchmark.docs.pages`
lists them). `bench docs` writes them under `docs/`, `bench docs --check` says which
committed page differs from what the code generates now; a test runs the same check, so a
page never drifts from the code it describes."""
