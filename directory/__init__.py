"""The federated European directory of organisations (DESIGN §5).

- `directory.hsds`: the organisation record (Open Referral HSDS), its validation and the
  state-event content it is published as.
- `directory.store`: `Directory`, the SQLite side: this instance's own records and what is
  left to publish, listings mirrored from directory rooms with provenance, search.
- `directory.io`: import and export as HSDS JSON and CSV; `directory.cli` puts them on
  the command line (`main.py directory import|export FILE`).
- `directory/seed.json`: the organisations named in the project's source texts.
"""
