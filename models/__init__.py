"""Model backends behind one interface per modality: audio in, text out; text in, tokens/audio out.

`models/` knows nothing of calls. Each modality has `base.py` (interface, capabilities, data types) and one
file per backend. Backends implement `_impl`; the base class's public method owns timing, metrics,
deadlines and failover.
"""
