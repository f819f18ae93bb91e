"""Settings, database engine and security helpers of the server."""
