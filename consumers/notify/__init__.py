"""The notifier's parts: message templates and notify targets from the rules repository,
the pure plan of who gets what, and the transports (SMTP, Twilio, the console)."""
