"""Code that runs inside the sandbox. Imports only the standard library, numpy, pytest and
(lazily) torch: never the engine, never anything that compares or scores."""
