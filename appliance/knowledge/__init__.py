"""Knowledge base: documents → chunks → Chroma (per organization), retrieved into the agent's prompt."""

from appliance.knowledge.ingest import UnsupportedDocument, chunk_text, extract_text
from appliance.knowledge.store import DocumentInfo, EmbedderFunction, Knowledge, OrgKnowledge

__all__ = ["DocumentInfo", "EmbedderFunction", "Knowledge", "OrgKnowledge", "UnsupportedDocument", "chunk_text",
           "extract_text"]
