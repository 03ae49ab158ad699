"""What every layer uses: the error type, the cache store, process checks, versions, TOML configs, progress bars."""
