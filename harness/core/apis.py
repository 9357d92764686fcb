"""The model APIs a suite can choose and how a conversation keeps its state: the names, defined once.

A module of its own (no imports) so `harness --help` can list them and the
suite schema can check them; `harness.providers.registry` maps each API name
to its provider.
"""

from __future__ import annotations

CHAT = "chat"  # Chat Completions: /v1/chat/completions
RESPONSES = "responses"  # the Responses API: /v1/responses
APIS = (CHAT, RESPONSES)

RESEND = "resend"  # the harness sends the whole conversation every turn
PREVIOUS_RESPONSE_ID = "previous_response_id"  # the server keeps it; each turn sends only what is new
HISTORY_MODES = (RESEND, PREVIOUS_RESPONSE_ID)
