"""Webhooks: a request, signed as the Standard Webhooks specification says, when a workflow ends."""
