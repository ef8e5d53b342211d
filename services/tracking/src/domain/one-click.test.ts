import { describe, expect, it } from 'vitest';
import { unsubscribeMethod } from './one-click.js';

const multipart = (name: string, value: string) =>
  Buffer.from(`--b0\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n--b0--\r\n`);

describe('unsubscribeMethod', () => {
  it('RFC 8058 urlencoded body → one_click', () => {
    expect(unsubscribeMethod('application/x-www-form-urlencoded', Buffer.from('List-Unsubscribe=One-Click'))).toBe('one_click');
    expect(unsubscribeMethod('application/x-www-form-urlencoded; charset=utf-8', Buffer.from('x=1&List-Unsubscribe=One-Click\r\n'))).toBe('one_click');
  });

  it('RFC 8058 multipart body → one_click', () => {
    expect(unsubscribeMethod('multipart/form-data; boundary=b0', multipart('List-Unsubscribe', 'One-Click'))).toBe('one_click');
    expect(unsubscribeMethod('multipart/form-data; boundary=b0', multipart('other', 'One-Click'))).toBe('page');
  });

  it('the form body under another content type still counts as one-click', () => {
    expect(unsubscribeMethod('text/plain', Buffer.from('List-Unsubscribe=One-Click'))).toBe('one_click');
    expect(unsubscribeMethod(undefined, Buffer.from('List-Unsubscribe=One-Click'))).toBe('one_click');
  });

  it('the page button, empty and odd bodies → page', () => {
    expect(unsubscribeMethod('application/x-www-form-urlencoded', Buffer.from('confirm=unsubscribe'))).toBe('page');
    expect(unsubscribeMethod(undefined, undefined)).toBe('page');
    expect(unsubscribeMethod('application/json', Buffer.from('{"List-Unsubscribe":"One-Click"}'))).toBe('page');
    expect(unsubscribeMethod('application/octet-stream', Buffer.from([0xff, 0xfe, 0x00]))).toBe('page');
  });
});
