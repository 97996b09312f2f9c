"""After the relay said yes: delivery reports (DSN), complaints (ARF) and auto-replies, read
from `mailer inbound` or the bounce mailbox, judged once and recorded once."""
