/** The three roles, each allowed everything the one below it is. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (v: unknown): v is Role => typeof v === 'string' && (ROLES as readonly string[]).includes(v);

/** The roles at or above `min`: `config: { roles: atLeast('operator') }` on a route. */
export const atLeast = (min: Role): readonly Role[] => ROLES.slice(ROLES.indexOf(min));

/** What a route's `config` may say about access. */
export interface AccessConfig {
  /** No token needed (login, refresh, health, docs). */
  readonly public?: boolean;
  /** The roles allowed; without it the central policy decides. */
  readonly roles?: readonly Role[];
}

/**
 * Admin-only routes by their registered pattern, whatever their method: people, keys and
 * credentials, runtime configuration, lifting a suppression. Written here, not in each
 * feature, so that a route another feature adds under these paths is covered too.
 */
const ADMIN_ONLY: ReadonlyArray<{ method?: string; pattern: RegExp }> = [
  { pattern: /^\/v1\/users(\/|$)/ },
  { pattern: /^\/v1\/audit(\/|$)/ },
  { pattern: /^\/v1\/keys(\/|$)/ },
  { pattern: /(^|\/)(api-)?keys(\/|$)/, method: 'POST' },
  { pattern: /(^|\/)(api-)?keys(\/|$)/, method: 'DELETE' },
  { pattern: /(^|\/)(api-)?keys(\/|$)/, method: 'PATCH' },
  { pattern: /(^|\/)credentials(\/|$)/ },
  { pattern: /(^|\/)secrets?(\/|$)/, method: 'POST' },
  { pattern: /(^|\/)secrets?(\/|$)/, method: 'PUT' },
  // A bounce mailbox is added with its IMAP password.
  { pattern: /^\/v1\/mailboxes\/?$/, method: 'POST' },
  { pattern: /\/dkim$/, method: 'PUT' },
  { pattern: /\/dkim$/, method: 'DELETE' },
  { pattern: /^\/v1\/config\/?$/, method: 'PATCH' },
  { pattern: /^\/v1\/config\/?$/, method: 'PUT' },
  { pattern: /^\/v1\/suppressions(\/|$)/, method: 'DELETE' },
];

const READ = new Set(['GET', 'HEAD']);
const WRITE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The roles allowed on one route: its own `config.roles`, else the admin-only table, else
 * by method (reads → viewer and up, writes → operator and up). Any other method has no
 * decision and gets none: an empty list, which refuses everyone (fail closed).
 */
export function allowedRoles(method: string, url: string, config: AccessConfig | undefined): readonly Role[] {
  if (config?.roles) return config.roles;
  const m = method.toUpperCase();
  if (ADMIN_ONLY.some((r) => r.pattern.test(url) && (r.method === undefined || r.method === m))) return atLeast('admin');
  if (READ.has(m)) return atLeast('viewer');
  if (WRITE.has(m)) return atLeast('operator');
  return [];
}
