"""Node-local SPARQL: a caller's query restricted to what it may read, run in a worker."""
