"""Distillation methods, one file each; every module here is imported and registers itself."""
