"""The matching engine: for an incoming statement line, ranked candidates from the
organization's open receivables, each with a confidence (0-100) and reasons in
words. :mod:`.text` reads references out of remittance text, :mod:`.engine`
scores candidates; ``reconciliation.services.matching`` stores and applies them.
"""
