"""FMAR node: a participant's register of RDF records, validated with SHACL."""
