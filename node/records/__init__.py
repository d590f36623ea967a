"""The record machinery shared by every record kind (node/kinds/).

- `kind.RecordKind`: what a kind is (IRI base, class, fields, state, shapes, accessors);
- `unit.UnitOfWork`: the one write path (record, history version, audit entries, in one
  store transaction, with the If-Match version check);
- `refusals`: violations to errors, once;
- `status`: the enumerated record states.
"""
