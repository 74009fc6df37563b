"""The federated European directory of organisations.

- `directory.hsds`: the organisation record (Open Referral HSDS), its validation and the
  state-event content it is published as.
- `directory.store`: `Directory`, the SQLite side: this instance's own records and what is
  left to publish, listings mirrored from directory rooms with provenance, one organisation
  listed by several networks shown merged, search.
- `directory.mirror`: `Mirror` copies the space's directory rooms into the store (the
  Matrix mechanics it uses, shared with the resource exchange, are in `federation`).
- `directory.publishing`: a running bot publishes what another process saved, at once.
- `directory.io`: import (HSDS JSON, the HSDS data package, our CSV) and export (HSDS JSON,
  CSV); `directory.cli` puts them on the command line (`main.py directory import|export`).
- `directory.api`: the read-only JSON API after the HSDS 3.0 API reference;
  `directory.web`: the search page and the organisation pages.
- `directory/seed.json`: the organisations named in the project's source texts.
"""
