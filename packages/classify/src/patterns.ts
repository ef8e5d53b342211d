/**
 * Phrases seen in real replies (Postfix, Exim, Gmail, Outlook/Exchange, Yahoo). Matched against
 * the lower-cased reply text. Order of use lives in classify.ts; these only name the ideas.
 */
export const RATE =
  /rate limit|rate-limit|ratelimit|too many (?:messages|mails|emails|connections|sessions|login|auth|requests|concurrent)|sending (?:quota|limit)|(?:daily|hourly) (?:user )?(?:sending )?(?:quota|limit)|submissionquotaexceeded|quota exceeded for (?:sending|message)|exceeded (?:the )?(?:sending |message )?(?:rate|limit)|throttl|message submission rate|rate exceeded|unexpected volume|temporarily rate limited|(?:rate|sending|send|message|connection|hourly|daily) limit (?:exceeded|reached)/;

// A recipient receiving too fast is about that recipient, not about our account.
export const RECIPIENT_RATE = /receiving mail (?:at a rate|too quickly)|recipient.{0,40}(?:too quickly|rate)/;

export const TRY_LATER = /try again later|please try later|try later/;

export const GREYLIST = /grey ?list|gray ?list|greylisted|graylisted|postgrey|temporarily (?:deferred|rejected).{0,40}(?:retry|try)|deferred for \d+ seconds/;

export const SPAM =
  /spam|unsolicited|block ?list|blacklist|blocklisted|blacklisted|blocked|reputation|spamhaus|barracuda|sorbs|spamcop|dnsbl|\brbl\b|junk|bulk mail|banned sending ip|listed (?:at|in|on|by)/;

export const CONTENT =
  /virus|malware|infected|security issue|attachment|content (?:rejected|restriction|not accepted)|suspicious (?:link|url)|prohibited/;

export const SENDER_AUTH = /dmarc|\bspf\b|\bdkim\b|unauthenticated|not authenticated with|authenticate with/;

export const POLICY = /policy|not authori[sz]ed|not permitted|access denied|denied|reverse (?:dns|hostname)|ptr record/;

export const RELAY = /relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited)|unable to relay|not permitted to relay|relay not permitted|we do not relay|relaying denied|no relaying/;

export const AUTH_REQUIRED =
  /authentication required|auth(?:entication)? is required|must authenticate|not authenticated|client was not authenticated|authenticate first|sender address must be authenticated/;

export const AUTH_FAILED =
  /authentication (?:unsuccessful|failed|credentials invalid)|invalid credentials|username and password not accepted|bad username|password (?:incorrect|not accepted)|application-specific password|log in via your web browser|smtpclientauthentication is disabled|basic authentication is disabled|invalid login/;

export const STARTTLS = /starttls|must issue a starttls|tls required|encryption required/;

export const SENDER =
  /sender address rejected|sender (?:rejected|denied|not allowed|verify failed)|not owned by (?:user|auth)|send as this sender|sendasdenied|from address (?:is )?not (?:allowed|verified)|sender domain (?:not found|must resolve)|envelope sender/;

export const UNKNOWN_USER =
  /user unknown|unknown user|no such (?:user|mailbox|recipient)|(?:mailbox|user|address|recipient|account)(?: [^ ]+)? (?:does not exist|doesn't exist|not found|unavailable|is disabled|has been disabled)|recipient not found|unknown recipient|invalid (?:recipient|mailbox)|recipientnotfound|mailbox not found|not a valid mailbox|unrouteable address|unroutable address|address rejected: user/;

export const UNKNOWN_DOMAIN =
  /domain (?:not found|does not exist|doesn't exist|unknown)|unknown domain|host or domain name not found|no mx|domain has no|unrouteable domain|unroutable domain|name service error|nxdomain/;

export const MAILBOX_FULL =
  /mailbox (?:is )?full|over quota|overquota|quota exceeded|exceeded (?:storage|quota)|insufficient (?:user )?storage|mailbox size limit|inbox is full|storage allocation/;

export const TOO_BIG = /too (?:big|large)|size (?:exceeds|limit)|exceeds (?:the )?(?:size|maximum|fixed)|message length exceeds|maximum message size/;

export const BAD_ADDRESS = /bad (?:recipient )?address syntax|not a valid rfc|invalid address|syntax error in (?:parameters|address)|malformed address/;

export const SERVER_BUSY =
  // Not "service unavailable": Postfix prefixes blocklist rejections with it.
  /server busy|system (?:busy|not accepting)|too busy|shutting down|closing (?:transmission )?channel/;
