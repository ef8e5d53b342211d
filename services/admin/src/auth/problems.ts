import { problem, type ProblemBody } from '../http/problem.js';

/** Titles of the codes the auth routes add to the API's vocabulary (http/problem.ts has the rest). */
const TITLES: Readonly<Record<string, string>> = {
  forbidden: 'Your role may not do this',
  totp_required: 'A one-time code is required',
  too_many_attempts: 'Too many failed attempts',
  invalid_refresh_token: 'The refresh token is not valid',
  totp_not_pending: 'No TOTP enrolment is waiting for confirmation',
  totp_already_enabled: 'TOTP is already enabled',
  invalid_totp: 'The one-time code is wrong',
  user_exists: 'The user name is taken',
  user_not_found: 'No such user',
  cannot_delete_self: 'You cannot delete the user you are logged in as',
  weak_password: 'The password is too short',
  invalid_cursor: 'Not a cursor this API returned',
};

export function authProblem(status: number, code: string, detail: string): ProblemBody {
  return { ...problem(status, code, detail), title: TITLES[code] ?? problem(status, code, detail).title };
}
