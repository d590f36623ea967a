"""The part of the trust framework that nodes and clients use: the token verifier, what a
federation certificate says, and the command-line options of a client."""
