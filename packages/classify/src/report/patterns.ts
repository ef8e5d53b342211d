/**
 * Phrases of asynchronous bounces, matched against lower-cased diagnostic text. Every regex is
 * alternations of literals with bounded gaps, so matching stays linear in the text.
 */

// SPF, DKIM, DMARC: the sender's authentication, whatever code came with it.
export const AUTH = /dmarc|\bspf\b.{0,30}\b(?:fail|failed|failure|softfail|validation|check failed|alignment)|\bdkim\b.{0,30}\b(?:fail|failed|failure|invalid|validation|missing)|(?:fail|failed|failure)\W{1,3}(?:spf|dkim)\b|sender policy framework|unauthenticated|not authenticated|authenticate with|authentication (?:failed|failure|required)|5\.7\.2[3-7]\b/;

export const RATE =
  /rate limit|rate-limit|ratelimit|too many (?:messages|mails|emails|connections|recipients|sessions|requests|concurrent)|throttl|exceeded (?:the )?(?:sending |message )?(?:rate|limit)|rate exceeded|unexpected volume|sending (?:quota|limit)|(?:hourly|daily) (?:sending )?(?:quota|limit)|limit (?:exceeded|reached)|temporarily deferred due to user complaints|receiving mail (?:at a rate|too quickly)/;

// Blocklists and IP/domain reputation: the sending host, not the address.
export const REPUTATION =
  /spamhaus|spam ?list|block ?list|blacklist|dnsbl|\brbl\b|\bcbl\b|abuseat|barracuda|sorbs|spamcop|uceprotect|mailspike|surbl|(?<!not )\blisted (?:at|in|on|by)|is listed|(?:client|sending|your) (?:host|ip|server|mta)(?: address)?(?: \[[^\]]{0,60}\])? (?:is )?(?:blocked|rejected|refused|denied)|reputation|poor (?:ip )?reputation|banned sending ip|ip (?:address )?(?:has been )?blocked|access denied, banned|\bbanned\b|blocked using|blocked by|rejected by .{0,40}(?:policy|filter)|not accepting mail from (?:your|this) (?:ip|host|server)/;

export const SPAM =
  /spam|unsolicited|\bjunk\b|bulk mail|mass mail|suspicious|phish|virus|malware|infected|content (?:filter|rejected|restriction)|\bblocked\b|high probability|scam|not delivered for policy/;

export const POLICY =
  /polic(?:y|ies)|not authori[sz]ed|not permitted|prohibited|access denied|\bdenied\b|refused|administrative(?:ly)? prohibit|header error|reverse (?:dns|hostname|lookup)|ptr record|relay(?:ing)? (?:access )?(?:denied|not permitted)|unable to relay|restricted|not allowed|sender (?:address )?rejected|helo/;

export const MAILBOX_FULL =
  /mailbox (?:is )?full|mailbox exceeds|exceeds allowed size|mailbox is over|over ?quota|quota exceeded|exceeded (?:storage|(?:the |their |his |her )?quota)|insufficient (?:user |system )?storage|mailbox size limit|inbox is full|full mailbox|storage allocation|out of storage|disk quota|mail ?box (?:has )?exceeded|user has exceeded|not enough (?:disk )?space|mailfolder is full/;

export const TOO_BIG =
  /too (?:big|large)|size (?:exceeds|limit|too)|exceeds (?:the )?(?:size|maximum|fixed|message size)|message length exceeds|maximum message size|message size exceeds/;

export const EXPIRED =
  /delivery time expired|retry time(?:out)? (?:not )?(?:exceeded|reached)|retry timeout exceeded|time(?:d)? ?out|expired|too long in (?:the )?queue|in the queue too long|could not be delivered within|has not been delivered for|maximum time|giving up/;

export const UNKNOWN_DOMAIN =
  /domain (?:not found|does not exist|doesn't exist|unknown|name not found)|unknown domain|host (?:or domain name )?not found|host unknown|no mx|no mail ?hosts? for|domain has no|unrouteable (?:mail )?domain|unroutable domain|nxdomain|no such domain|name service error|dns error|domain lookup failed|mail (?:is )?not accepted for this domain|bad destination (?:system|mailbox address)/;

export const DISABLED =
  /(?:account|mailbox|user|address|recipient)(?: \S{1,40}){0,6} (?:is |has been )?(?:disabled|deactivated|inactive|suspended|closed|locked|expired|terminated|discontinued|deleted|no longer (?:active|available|valid|in use))|no longer (?:accepts?|receives?|receiving|accepting) (?:mail|email|messages)|(?:does not|doesn't|do not|don't) (?:accept|receive) (?:mail|email|messages)|not accepting (?:mail|email|messages)(?! from)|(?:deactivated|disabled|inactive|closed|suspended|terminated|expired|locked) (?:e-?mail )?(?:mailbox|account|address)|has moved|moved (?:to|permanently)|disabled ?user|account ?disabled|mailbox ?disabled|user (?:is )?inactive|inactive (?:user|account|mailbox)/;

export const UNKNOWN_USER =
  /user unknown|(?:address|account|mailbox|recipient) (?:couldn't|could not|can't|cannot) be found|address not found|unknown user|unknown (?:local[- ]part|recipient|address|mailbox|alias)|no such (?:user|mailbox|recipient|address|person|account|local user)|(?:mailbox|user|address|recipient|account|addressee)(?: \S{1,40}){0,6} (?:does not exist|doesn't exist|not found|not exist|unavailable|is unknown|not known|invalid|not valid)|(?:does not|doesn't) have an? \S{1,40} account|recipient not found|recipientnotfound|recipnotfound|mailbox not found|not a valid (?:mailbox|recipient|user)|invalid (?:recipient|mailbox|address|user)|unrouteable address|unroutable address|address rejected|user (?:not found|doesn't exist|does not exist)|no mailbox|not our customer|unknown or illegal alias|bad (?:recipient|destination mailbox)|recipient (?:address )?rejected: (?:user|access denied|undeliverable)|no (?:valid )?recipients?|does not like recipient|mailbox unavailable|account (?:does not exist|not exist)|undeliverable address|not listed in/;

export const TEMPORARY = /did not accept our requests to connect|connection (?:refused|timed out|reset|lost)|socket error|try again|try later|temporar|grey ?list|gray ?list|deferred|service (?:is )?(?:currently )?unavailable|system busy|resources/;

// Refusals of our HELO, envelope sender or connecting host: about the sender whatever follows.
export const SENDER_SIDE = /helo command rejected|sender address rejected|sender rejected|client host rejected|sender verify failed|after mail from|envelope sender|sender domain/;
