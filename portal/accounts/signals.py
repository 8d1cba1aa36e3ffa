"""What happens to API tokens and login lockouts, for whoever keeps an audit of it (the ops portal's audit log listens).

Sent with `by`, the user who did it (None from the command line or the portal itself),
and `door`: "admin", "cli", or "portal" for what the portal did on its own (a password
change revoking ops tokens). The token itself is never sent: only its row.
"""

from django.dispatch import Signal

token_issued = Signal()  # token: the new ApiToken
tokens_revoked = Signal()  # tokens: the ApiTokens just revoked; because: why
lockouts_reset = Signal()  # attempts: (username, address, failures) of each login attempt count deleted
