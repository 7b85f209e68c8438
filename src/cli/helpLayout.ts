import type { Command, Help } from 'commander';

/** Help is never wrapped narrower than this, whatever the terminal says. */
const narrowest = 40;

/**
 * The width help is wrapped to: the terminal's, `COLUMNS` when the output is not a terminal and
 * the shell exported it, otherwise 80.
 */
export function helpWidth(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): number {
  const fromTerminal = stream.isTTY === true ? stream.columns : undefined;
  const fromEnv = Number(env.COLUMNS);
  const width = fromTerminal ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 80);
  return Math.max(narrowest, width);
}

/**
 * Wraps plain text at spaces to `width`, keeping its line breaks and each line's indent; a line
 * laid out as a term and its description (`  direct      the clients …`) continues under the
 * description, an example (`  $ …`) under its command.
 */
export function wrapText(text: string, width: number): string {
  return text
    .split('\n')
    .map((line) => {
      if (line.length <= width) return line;
      const indent = /^ */.exec(line)?.[0] ?? '';
      const hanging = /^ *(?:\$ |\S+ {2,})/.exec(line)?.[0].length ?? indent.length;
      const continuation = ' '.repeat(hanging < width / 2 ? hanging : indent.length);
      const lines: string[] = [];
      let current = '';
      for (const word of line.slice(indent.length).split(' ')) {
        const candidate = current === '' ? `${indent}${word}` : `${current} ${word}`;
        if (candidate.length > width && current.trim() !== '') {
          lines.push(current);
          current = `${continuation}${word}`;
        } else current = candidate;
      }
      lines.push(current);
      return lines.join('\n');
    })
    .join('\n');
}

/*
 * Commander aligns every description after the longest flag and stops wrapping when that leaves
 * less than 40 columns (run's flags: lines of 200 columns). Here the description column is at
 * most 40 % of the width in; a longer flag takes a line of its own, its description below.
 */
function formatItem(this: Help, term: string, termWidth: number, description: string, helper: Help): string {
  if (description === '') return `  ${term}`;
  const width = helper.helpWidth ?? 80;
  const column = Math.min(termWidth, Math.floor(width * 0.4));
  const descriptionWidth = width - column - 4;
  const body = helper.boxWrap(description, descriptionWidth).split('\n');
  const under = ' '.repeat(column + 4);
  if (term.length > column) return [`  ${term}`, ...body.map((line) => `${under}${line}`)].join('\n');
  const [first, ...rest] = body;
  return [`  ${term.padEnd(column)}  ${first ?? ''}`, ...rest.map((line) => `${under}${line}`)].join('\n');
}

/** Applies the layout to a program; subcommands created after this inherit it. */
export function configureHelpLayout(program: Command): Command {
  return program.configureHelp({ formatItem, minWidthToWrap: 20 }).configureOutput({
    getOutHelpWidth: () => helpWidth(process.stdout),
    getErrHelpWidth: () => helpWidth(process.stderr),
    // Help text a command adds after its options is wrapped here too, whoever wrote it.
    writeOut: (text) => process.stdout.write(wrapText(text, helpWidth(process.stdout))),
  });
}

/** Help text after the options, wrapped to the same width when it is printed. */
export function addWrappedHelpText(command: Command, text: string): Command {
  return command.addHelpText('after', (context) => wrapText(text, helpWidth(context.error ? process.stderr : process.stdout)));
}
