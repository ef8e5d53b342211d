import { describe, expect, it } from 'vitest';
import { loadConfig } from './index.js';

describe('OTLP endpoint', () => {
  it('is off by default, read from POSTBUS_OTLP_ENDPOINT, else from the standard OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    expect(loadConfig({}).otlpEndpoint).toBe('');
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' }).otlpEndpoint).toBe('http://jaeger:4318');
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', POSTBUS_OTLP_ENDPOINT: 'http://collector:4318' }).otlpEndpoint).toBe('http://collector:4318');
  });
});
