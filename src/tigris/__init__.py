"""Tigris: design AI chips for large language models and weigh them against the incumbents."""

__version__ = "0.1.0"
