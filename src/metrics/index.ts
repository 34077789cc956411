/**
 * `ws-supervisor/metrics`: Prometheus metrics through prom-client, an
 * optional peer dependency (issue 11, item 5). A subpath of its own, so that
 * `ws-supervisor` itself never loads prom-client.
 */
export { type MetricsOptions, type MetricsSubject, metricNames, registerMetrics } from './prometheus.js';
