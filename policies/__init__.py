"""Data-only package: the presets shipped with llm-retry, installed as ``llm_retry.policies``."""
