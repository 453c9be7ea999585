"""Keys, signatures and request limits: who may call the API, how often, with how much.

keys.py          key format, salted hashes, constant-time verification
keystore.py      the hashed keys file (admin and per-KB widget keys), managed by the CLI
integrations.py  per-integration config: Zendesk accounts, generic webhook clients
signing.py       HMAC signatures (Zendesk's scheme and ours) with timestamp checks
principal.py     who a request is: admin, a widget key, or anonymous
access.py        the middleware: authenticate, scope widget keys, rate-limit
cors.py          CORS answered from the widget keys' allowed origins
body_limit.py    request body size cap
install.py       install_security(app): wires the middlewares in order
"""
