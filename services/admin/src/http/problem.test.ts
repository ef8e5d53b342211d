import { InfrastructureError, ValidationError } from '@postbus/contracts';
import { describe, expect, it } from 'vitest';
import { PROBLEM_TITLES, toProblem } from './problem.js';

describe('toProblem', () => {
  it('keeps the code and status of our errors, and their errors list', () => {
    expect(toProblem(new ValidationError('invalid_address', 'to: bad', { errors: [{ index: 0 }] }))).toEqual({
      type: 'urn:postbus:problem:invalid_address',
      title: PROBLEM_TITLES['invalid_address'],
      status: 422,
      code: 'invalid_address',
      detail: 'to: bad',
      errors: [{ index: 0 }],
    });
    expect(toProblem(new InfrastructureError('log_full', 'the event log is full', new Error('secret cause')))).toMatchObject({ status: 503, code: 'log_full', detail: 'the event log is full' });
  });

  it('maps fastify parser errors to stable codes', () => {
    const fst = (code: string, statusCode: number) => Object.assign(new Error('x'), { code, statusCode });
    expect(toProblem(fst('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415)).code).toBe('unsupported_media_type');
    expect(toProblem(fst('FST_ERR_CTP_BODY_TOO_LARGE', 413)).code).toBe('payload_too_large');
    expect(toProblem(fst('FST_ERR_CTP_INVALID_JSON_BODY', 400)).code).toBe('malformed_json');
    expect(toProblem(fst('FST_ERR_CTP_EMPTY_JSON_BODY', 400)).code).toBe('malformed_json');
  });

  it('turns connection failures into database_unavailable and anything else into a bare 500', () => {
    expect(toProblem(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toMatchObject({ status: 503, code: 'database_unavailable' });
    const internal = toProblem(new Error('password=hunter2 in some message'));
    expect(internal).toMatchObject({ status: 500, code: 'internal_error', detail: 'internal error' });
  });

  it('has a title for every code it can produce', () => {
    for (const code of Object.keys(PROBLEM_TITLES)) expect(PROBLEM_TITLES[code]).toBeTruthy();
  });
});
