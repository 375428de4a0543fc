"""The paper plan as plain Python (torch-free): experiments, archs, where each result lands, and
the tools that operate the plan on a cluster. The workflow's .smk files hold rules and call it."""
