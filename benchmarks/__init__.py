"""Speed, memory and reliability scripts: run as python -m benchmarks.<name> from the repository root."""
