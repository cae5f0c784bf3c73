/**
 * OTEL=true: the example app's OpenTelemetry SDK, started before the Nest app (as OpenTelemetry
 * requires) so the sessions module finds it: a meter provider whose reader is the Prometheus
 * exporter, served by the app itself at `GET /metrics` instead of the exporter's own port.
 */
import { Controller, Get, Header } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

let exporter: PrometheusExporter | undefined;

/** Registers the process's meter provider once (OpenTelemetry's global can be set only once). */
export function startTelemetry(): PrometheusExporter {
  if (!exporter) {
    exporter = new PrometheusExporter({ preventServerStart: true });
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }));
  }
  return exporter;
}

@Controller()
export class MetricsController {
  private readonly serializer = new PrometheusSerializer(undefined, false, undefined, true, true);

  /** Prometheus' text format of every metric the app recorded (the sessions' `session_*`). */
  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(): Promise<string> {
    const { resourceMetrics } = await startTelemetry().collect();
    return this.serializer.serialize(resourceMetrics);
  }
}
