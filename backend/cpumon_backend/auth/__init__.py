"""Users, logins and server-side sessions."""
