// What every OPERATIONS.md must satisfy, for the tests that read one: the template's headings, no placeholder text,
// and each section naming its source or what would fill it.

/** The template's headings (devops-engineer-operations-template.md), which the document keeps. */
export const TEMPLATE_HEADINGS = [
  '## Deployment Overview',
  '## Infrastructure Architecture',
  '### Production Environment',
  '### Environment Specifications',
  '## CI/CD Pipeline',
  '### Build Pipeline',
  '### Deployment Strategy',
  '## Monitoring & Observability',
  '### Application Monitoring',
  '### Infrastructure Monitoring',
  '### Key Performance Indicators',
  '#### Application KPIs',
  '#### Business KPIs',
  '## Alerting Configuration',
  '### Critical Alerts (Immediate Response)',
  '### Warning Alerts (Business Hours Response)',
  '### Alert Channels',
  '## Security & Compliance',
  '### Security Measures',
  '### Security Monitoring',
  '## Backup & Disaster Recovery',
  '### Backup Strategy',
  '### Disaster Recovery Plan',
  '### Recovery Procedures',
  '## Incident Response',
  '### Incident Classification',
  '### Response Procedures',
  '#### P1 Critical Incident Response',
  '### Communication Plan',
  '## Performance Optimization',
  '### Optimization Strategies',
  '### Scaling Strategies',
  '## Cost Management',
  '### Cost Monitoring',
  '### Cost Optimization',
  '## Operational Runbooks',
  '### Daily Operations',
  '### Weekly Operations',
  '### Monthly Operations',
  '## Quality Gates',
  '## Changelog',
];

/** Some of the template's bracketed placeholders, word for word. */
export const TEMPLATE_PLACEHOLDERS = [
  '[Blue-green, rolling, canary deployment approach]',
  '[Cloud provider, hosting architecture]',
  '[Number and size of application instances]',
  '[Automated rollback triggers and procedures]',
  '[Target recovery time]',
  '[Date] - [Summary of operational changes and infrastructure updates]',
];

/**
 * Problems with placeholder text: outside code blocks, every "[" must open a link `[text](target)` or be escaped;
 * and no placeholder of the template appears.
 */
export function placeholderProblems(md: string): string[] {
  const problems = TEMPLATE_PLACEHOLDERS.filter((p) => md.includes(p)).map((p) => `template text: ${p}`);
  let fenced = false;
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    const withoutLinks = line.replace(/\[[^\]]*\]\([^)\s]*\)/g, '').replace(/\\\[/g, '');
    if (withoutLinks.includes('[')) problems.push(`bracket outside a link: ${line}`);
  }
  return problems;
}

/** Headings whose own text (up to the next heading) names no source and says nothing of what would fill them. */
export function sectionsWithoutSource(md: string): string[] {
  const lines = md.split('\n');
  const bare: string[] = [];
  lines.forEach((line, i) => {
    if (!/^#{2,4} /.test(line)) return;
    const next = lines.findIndex((l, j) => j > i && /^#{1,4} /.test(l));
    const body = lines.slice(i + 1, next === -1 ? undefined : next);
    if (body.every((l) => l.trim() === '')) return; // a container: its subsections carry the sources
    if (!body.some((l) => l.includes('_Source: ') || l.includes('_No source yet: '))) bare.push(line);
  });
  return bare;
}
