import parsePrometheusTextFormat, { type ParsedFamily, type ParsedSample } from 'parse-prometheus-text-format';

/** A scrape parsed by a Prometheus text-format parser, with look-ups by name and labels. */
export class Scrape {
  readonly families: ParsedFamily[];

  constructor(text: string) {
    this.families = parsePrometheusTextFormat(text);
  }

  family(name: string): ParsedFamily | undefined {
    return this.families.find((family) => family.name === name);
  }

  /** The one sample of `name` whose labels include `labels`; undefined when there is none. */
  sample(name: string, labels: Record<string, string> = {}): ParsedSample | undefined {
    const matching = (this.family(name)?.metrics ?? []).filter((sample) =>
      Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value),
    );
    if (matching.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${matching.length} samples`);
    return matching[0];
  }

  /** A counter's or gauge's value; undefined when the sample is absent. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const sample = this.sample(name, labels);
    return sample?.value === undefined ? undefined : Number(sample.value);
  }
}

export async function scrape(baseUrl: string): Promise<{ contentType: string | null; scrape: Scrape }> {
  const answer = await fetch(`${baseUrl}/_ratewarden/metrics`);
  if (answer.status !== 200) throw new Error(`metrics answered ${answer.status}: ${await answer.text()}`);
  return { contentType: answer.headers.get('content-type'), scrape: new Scrape(await answer.text()) };
}
