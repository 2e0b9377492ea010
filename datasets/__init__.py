"""Datasets and tasks: the embedded paired world and the task registry."""
