import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './ports.js';
import { exitOf, onProcessExit, OutputTail, type Exit } from './processes.js';
import { sleep, waitFor } from './wait.js';

const POSTFIX = '/usr/sbin/postfix';
const DOVECOT = '/usr/sbin/dovecot';
const DOVECOT_IMAP = '/usr/lib/dovecot/imap';
const START_TIMEOUT_MS = 15_000;
const ATTEMPTS = 3; // a parallel test may take a free port between freePort() and the bind

export interface MailServerUser {
  /** Local part only: the mailbox is `user@domain`. */
  user: string;
  password: string;
}

export interface MailServerOptions {
  /** The local domain. Default `mail.test`. */
  domain?: string;
  users: MailServerUser[];
}

export interface MailServer {
  readonly host: '127.0.0.1';
  /** Postfix smtpd, no TLS: AUTH PLAIN/LOGIN (user or user@domain) for relaying; the local domain is accepted without. */
  readonly smtpPort: number;
  /** Dovecot IMAP, no TLS, plain login (user or user@domain). */
  readonly imapPort: number;
  readonly domain: string;
  /** The temp dir holding both servers' configuration, queue, mailboxes and logs. */
  readonly dir: string;
  address(user: string): string;
  /** Postfix's maillog and Dovecot's output so far, to explain a failed test. */
  logs(): string;
  /** Stops both servers and removes the dir. */
  stop(): Promise<void>;
}

/** Whether Postfix and Dovecot IMAP are installed (scripts/setup.sh installs them). */
export function mailServerAvailable(): boolean {
  return [POSTFIX, DOVECOT, DOVECOT_IMAP].every((file) => existsSync(file));
}

function systemUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`there is no '${name}' system user (is the package installed?)`);
  return { uid: Number(uid), gid: Number(gid) };
}

/** Processes of group pgid still running; zombies (under an init that does not reap) do not count. */
function liveMembers(pgid: number): number {
  let live = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') live++;
  }
  return live;
}

function signalGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  try {
    if (pgid !== undefined) process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM to the whole group (a master and the daemons it started), SIGKILL to what is left after graceMs. */
async function endGroup(pgid: number | undefined, graceMs = 5000): Promise<void> {
  if (pgid === undefined) return;
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (liveMembers(pgid) > 0 && Date.now() < deadline) await sleep(50);
  signalGroup(pgid, 'SIGKILL');
  await waitFor(() => liveMembers(pgid) === 0, { timeoutMs: 2000 }).catch(() => undefined);
}

async function run(command: string, args: string[]): Promise<{ exit: Exit; output: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = new OutputTail();
  tail.attach(child);
  const exit = await exitOf(child);
  return { exit, output: tail.toString() };
}

const conf = (settings: Record<string, string | number>): string =>
  Object.entries(settings).map(([key, value]) => `${key} = ${value}\n`).join('');

function postfixMainCf(dir: string, domain: string, mail: { uid: number; gid: number }): string {
  const refuse = `error:5.7.1 this test server delivers only to ${domain}`;
  return conf({
    compatibility_level: '3.6',
    queue_directory: `${dir}/spool`,
    data_directory: `${dir}/data`,
    syslog_name: path.basename(dir),
    maillog_file: `${dir}/maillog`,
    maillog_file_prefixes: dir,
    myhostname: `mx.${domain}`,
    mydomain: domain,
    myorigin: domain,
    // every address of the domain is a virtual mailbox; nothing is delivered by local(8)
    mydestination: '',
    alias_maps: '',
    alias_database: '',
    inet_interfaces: 'loopback-only',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.1/32',
    biff: 'no',
    virtual_mailbox_domains: domain,
    virtual_mailbox_base: `${dir}/mail`,
    virtual_mailbox_maps: `texthash:${dir}/postfix/mailboxes`,
    // plus-addressing: user+anything@domain is delivered to user (VERP return paths)
    recipient_delimiter: '+',
    virtual_minimum_uid: mail.uid,
    virtual_uid_maps: `static:${mail.uid}`,
    virtual_gid_maps: `static:${mail.gid}`,
    // unknown users are accepted at RCPT, so virtual(8) bounces them: a real asynchronous DSN
    smtpd_reject_unlisted_recipient: 'no',
    smtpd_sasl_auth_enable: 'yes',
    smtpd_sasl_type: 'dovecot',
    smtpd_sasl_path: 'private/auth',
    smtpd_relay_restrictions: 'permit_sasl_authenticated, reject_unauth_destination',
    smtpd_tls_security_level: 'none',
    // nothing ever leaves the machine: relayed mail bounces at once
    default_transport: refuse,
    relay_transport: refuse,
    queue_run_delay: '1s',
    minimal_backoff_time: '1s',
    maximal_backoff_time: '2s',
    maximal_queue_lifetime: '1m',
    bounce_queue_lifetime: '1m',
    delay_warning_time: '0h',
    in_flow_delay: '0s',
  });
}

function postfixMasterCf(smtpPort: number): string {
  // chroot off everywhere: the daemons read the maps and mailboxes at their temp-dir paths
  const services = [
    `127.0.0.1:${smtpPort} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000 0 flush',
    'proxymap unix - - n - - proxymap',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'virtual unix - n n - - virtual',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return services.join('\n') + '\n';
}

function dovecotConf(dir: string, domain: string, imapPort: number, ids: { mail: { uid: number; gid: number } }): string {
  const { uid, gid } = ids.mail;
  return `${conf({
    base_dir: `${dir}/dovecot/run`,
    state_dir: `${dir}/dovecot/state`,
    instance_name: path.basename(dir),
    protocols: 'imap',
    listen: '127.0.0.1',
    ssl: 'no',
    disable_plaintext_auth: 'no', // Dovecot 2.3's name (2.4: auth_allow_cleartext)
    auth_mechanisms: 'plain login',
    auth_username_format: '%Ln',
    auth_failure_delay: '0',
    log_path: '/dev/stderr',
    first_valid_uid: uid,
    last_valid_uid: uid,
    mail_location: 'maildir:~/Maildir',
  })}
passdb {
  driver = passwd-file
  args = scheme=PLAIN ${dir}/dovecot/passwd
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${dir}/mail/${domain}/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
# no anvil socket for the auth penalty: else every AUTH from 127.0.0.1 after a wrong password waits up to 15 s
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener ${dir}/spool/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
`;
}

function validate(domain: string, users: MailServerUser[]): void {
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(domain)) throw new Error(`not a domain: ${domain}`);
  for (const { user, password } of users) {
    if (!/^[a-z0-9._+-]+$/.test(user)) throw new Error(`not a lower-case local part: ${user}`);
    if (/[:\r\n]/.test(password) || password === '') throw new Error(`password of ${user}: not empty, no ':' or line breaks`);
  }
}

/**
 * Starts a private Postfix (submission with SASL through Dovecot, virtual mailboxes for the
 * domain, Postfix's own DSNs for unknown users) and Dovecot (IMAP) on loopback, in a temp dir of
 * their own: several can run at once next to a system mail server. Needs root.
 */
export async function startMailServer(options: MailServerOptions): Promise<MailServer> {
  const domain = (options.domain ?? 'mail.test').toLowerCase();
  validate(domain, options.users);
  if (!mailServerAvailable()) throw new Error('Postfix and Dovecot IMAP are not installed: run scripts/setup.sh as root');
  if (process.getuid?.() !== 0) throw new Error('startMailServer needs root: Postfix and Dovecot start as root and drop privileges');
  const ids = { mail: systemUser('mail'), postfix: systemUser('postfix'), dovecot: systemUser('dovecot') };

  const dir = await mkdtemp(path.join(os.tmpdir(), 'postbus-mail-'));
  let postfixPid: number | undefined;
  let dovecot: ChildProcess | undefined;
  let dovecotTail = new OutputTail(16_384);
  const unregister = onProcessExit(() => {
    signalGroup(postfixPid, 'SIGKILL');
    signalGroup(dovecot?.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const logs = (): string => {
    const maillog = existsSync(`${dir}/maillog`) ? readFileSync(`${dir}/maillog`, 'utf8') : '';
    return `--- postfix maillog ---\n${maillog}--- dovecot ---\n${dovecotTail.toString()}`;
  };
  const stop = async (): Promise<void> => {
    const groups = [postfixPid, dovecot?.pid];
    postfixPid = undefined;
    dovecot = undefined;
    await Promise.all(groups.map((pgid) => endGroup(pgid)));
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    unregister();
  };

  const startPostfix = async (): Promise<number> => {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(`${dir}/postfix/master.cf`, postfixMasterCf(port));
      const { exit, output } = await run(POSTFIX, ['-c', `${dir}/postfix`, 'start']);
      if (exit.code === 0) {
        postfixPid = Number((await readFile(`${dir}/spool/pid/master.pid`, 'utf8')).trim());
        return port;
      }
      const why = `${exit.error?.message ?? ''}${output}\n${logs()}`;
      if (attempt < ATTEMPTS && why.includes('Address already in use')) continue;
      throw new Error(`postfix start failed (${exit.code ?? exit.signal}):\n${why.slice(-3000)}`);
    }
  };

  const startDovecot = async (): Promise<number> => {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const file = `${dir}/dovecot/dovecot.conf`;
      await writeFile(file, dovecotConf(dir, domain, port, ids));
      const proc = spawn(DOVECOT, ['-F', '-c', file], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      dovecot = proc;
      dovecotTail = new OutputTail(16_384);
      dovecotTail.attach(proc);
      const exited = exitOf(proc);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        dovecotTail.contains('starting up').then(() => waitFor(() => canConnect(port), { timeoutMs: START_TIMEOUT_MS })).then(() => 'ready' as const),
        exited,
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), START_TIMEOUT_MS))),
      ]).catch(() => 'timeout' as const);
      clearTimeout(timer);
      if (outcome === 'ready') return port;
      await endGroup(proc.pid, 0);
      dovecot = undefined;
      if (attempt < ATTEMPTS && dovecotTail.toString().includes('Address already in use')) continue;
      const why = outcome === 'timeout' ? `not ready within ${START_TIMEOUT_MS} ms` : `exited (${outcome.error?.message ?? outcome.code ?? outcome.signal})`;
      throw new Error(`dovecot on port ${port} ${why}:\n${logs().slice(-3000)}`);
    }
  };

  try {
    await chmod(dir, 0o755); // the daemons' unprivileged users traverse it
    for (const sub of ['postfix', 'spool', 'data', 'dovecot', `mail/${domain}`]) await mkdir(`${dir}/${sub}`, { recursive: true });
    await chown(`${dir}/data`, ids.postfix.uid, ids.postfix.gid);
    for (const { user } of options.users) {
      const home = `${dir}/mail/${domain}/${user}`;
      for (const sub of ['', '/Maildir', '/Maildir/cur', '/Maildir/new', '/Maildir/tmp']) {
        await mkdir(`${home}${sub}`, { recursive: true, mode: 0o700 });
        await chown(`${home}${sub}`, ids.mail.uid, ids.mail.gid);
      }
    }
    await chown(`${dir}/mail/${domain}`, ids.mail.uid, ids.mail.gid);
    await writeFile(`${dir}/postfix/main.cf`, postfixMainCf(dir, domain, ids.mail));
    await writeFile(`${dir}/postfix/mailboxes`, options.users.map(({ user }) => `${user}@${domain} ${domain}/${user}/Maildir/\n`).join(''));
    await writeFile(`${dir}/dovecot/passwd`, options.users.map(({ user, password }) => `${user}:{PLAIN}${password}\n`).join(''), { mode: 0o600 });
    await chown(`${dir}/dovecot/passwd`, ids.dovecot.uid, ids.dovecot.gid); // Dovecot's auth process reads it
    const smtpPort = await startPostfix(); // creates spool/private, where Dovecot puts the auth socket
    const imapPort = await startDovecot();
    return {
      host: '127.0.0.1',
      smtpPort,
      imapPort,
      domain,
      dir,
      address: (user) => `${user}@${domain}`,
      logs,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
