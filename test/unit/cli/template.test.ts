import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseTemplate, goSprintf, TemplateError } from '../../../src/cli/format/template.ts';
import { tabwrite } from '../../../src/cli/format/tabwriter.ts';
import { renderList, renderEach } from '../../../src/cli/format/render.ts';

const run = (src: string, data: unknown) => parseTemplate(src).execute(data);

describe('Go template subset', () => {
  const img = {
    Id: 'sha256:eb38',
    RepoTags: ['127.0.0.1:5000/busybox:latest', 'b:1'],
    Config: { Cmd: ['/bin/sh'], Env: null, Labels: { 'org.x': 'y' } },
    Size: 1985512,
    Os: 'linux',
  };
  test('fields, nested fields and plain text', () => {
    assert.equal(run('{{.Id}} on {{.Os}}', img), 'sha256:eb38 on linux');
    assert.equal(run('{{.Config.Cmd}}', img), '[/bin/sh]');
    assert.equal(run('{{.Size}}', img), '1985512');
  });
  test('Go %v for missing values, nil and maps', () => {
    assert.equal(run('{{.Nope}}', img), '<no value>');
    assert.equal(run('{{.Config.Env}}', img), '<nil>');
    assert.equal(run('{{.Config.Labels}}', img), 'map[org.x:y]');
  });
  test('json, index, join, upper, lower, title, len', () => {
    assert.equal(run('{{json .Config.Cmd}}', img), '["/bin/sh"]');
    assert.equal(run('{{json .Config.Env}}', img), 'null');
    assert.equal(run('{{index .RepoTags 1}}', img), 'b:1');
    assert.equal(run('{{index .Config.Labels "org.x"}}', img), 'y');
    assert.equal(run('{{join .RepoTags ", "}}', img), '127.0.0.1:5000/busybox:latest, b:1');
    assert.equal(run('{{upper .Os}} {{lower "ABC"}} {{title "hello world"}}', img), 'LINUX abc Hello World');
    assert.equal(run('{{len .RepoTags}}', img), '2');
  });
  test('json escapes like Go (<, >, &)', () => {
    assert.equal(run('{{json .}}', { a: '<x&y>' }), '{"a":"\\u003cx\\u0026y\\u003e"}');
  });
  test('pipelines and parenthesised calls', () => {
    assert.equal(run('{{.Os | upper}}', img), 'LINUX');
    assert.equal(run('{{(index .RepoTags 0) | upper}}', img), '127.0.0.1:5000/BUSYBOX:LATEST');
    assert.equal(run('{{printf "%s-%d" .Os .Size | upper}}', img), 'LINUX-1985512');
  });
  test('if / else if / else, range with variables, with', () => {
    assert.equal(run('{{if .Config.Env}}env{{else if .Config.Cmd}}cmd{{else}}none{{end}}', img), 'cmd');
    assert.equal(run('{{range .RepoTags}}[{{.}}]{{end}}', img), '[127.0.0.1:5000/busybox:latest][b:1]');
    assert.equal(run('{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}', img), '0=127.0.0.1:5000/busybox:latest 1=b:1 ');
    assert.equal(run('{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}}{{end}}', img), 'org.x:y');
    assert.equal(run('{{range .Missing}}x{{else}}empty{{end}}', img), 'empty');
    assert.equal(run('{{with .Config}}{{.Cmd}}{{end}}', img), '[/bin/sh]');
    assert.equal(run('{{range .RepoTags}}{{$.Os}}{{end}}', img), 'linuxlinux');
  });
  test('comparisons and logic', () => {
    assert.equal(run('{{if eq .Os "linux"}}yes{{end}}', img), 'yes');
    assert.equal(run('{{if and .Os (gt .Size 10)}}big{{end}}', img), 'big');
    assert.equal(run('{{if not .Nope}}no{{end}}', img), 'no');
    assert.equal(run('{{or .Nope "dflt"}}', img), 'dflt');
  });
  test('trim markers', () => {
    assert.equal(run('a  {{- .Os -}}  b', img), 'alinuxb');
  });
  test('printf verbs and widths', () => {
    assert.equal(goSprintf('%-6s|%5d|%05d|%q|%v|%%', ['ab', 42, 7, 'x', [1, 2]]), 'ab    |   42|00007|"x"|[1 2]|%');
    assert.equal(goSprintf('%.2f', [3.14159]), '3.14');
  });
  test('bad templates are errors with Go wording', () => {
    assert.throws(() => parseTemplate('{{.Os'), TemplateError);
    assert.throws(() => parseTemplate('{{nofunc .Os}}'), /function "nofunc" not defined/);
    assert.throws(() => parseTemplate('{{if .Os}}x'), /missing \{\{end\}\}/);
    assert.throws(() => parseTemplate('{{end}}'), /unexpected \{\{end\}\}/);
    assert.throws(() => run('{{.Os.Deeper}}', img), /can't evaluate field Deeper in type string/);
  });
});

describe('tables like docker', () => {
  test('tabwriter pads cells to max width + 3, min 10, last column unpadded', () => {
    const out = tabwrite('REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n127.0.0.1:5000/multilayer\t1\tbcde310c0ad4\t19 minutes ago\t276MB\nanchor-build\tbookworm\t9d7cbf82496d\t6 minutes ago\t196MB\n');
    assert.equal(
      out,
      'REPOSITORY                  TAG        IMAGE ID       CREATED          SIZE\n' +
        '127.0.0.1:5000/multilayer   1          bcde310c0ad4   19 minutes ago   276MB\n' +
        'anchor-build                bookworm   9d7cbf82496d   6 minutes ago    196MB\n',
    );
  });
  test('renderList: table prefix prints headers from titles; \\t typed literally works', () => {
    const rows = [{ Repository: 'busybox', Tag: 'latest' }];
    assert.equal(renderList('table {{.Repository}}\\t{{.Tag}}', rows, { Repository: 'REPOSITORY', Tag: 'TAG' }), 'REPOSITORY   TAG\nbusybox      latest\n');
    assert.equal(renderList('{{.Repository}}:{{.Tag}}', rows, {}), 'busybox:latest\n');
    assert.equal(renderList('json', rows, {}), '{"Repository":"busybox","Tag":"latest"}\n');
  });
  test('renderEach prints one line per object', () => {
    assert.equal(renderEach('{{.A}}', [{ A: 1 }, { A: 2 }]), '1\n2\n');
  });
  test('methods with arguments: {{.Label "k"}}, piped, in a table header (the last dotted part)', () => {
    const row = { Names: 'web', Labels: 'a.b=1', Label: (k: string) => ({ 'a.b': '1' })[k] ?? '' };
    assert.equal(run('{{.Label "a.b"}}|{{.Label "nope"}}|{{.Labels}}', row), '1||a.b=1');
    assert.equal(run('{{"a.b" | .Label}}', row), '1');
    assert.equal(run('{{if eq (.Label "a.b") "1"}}yes{{end}}', row), 'yes');
    assert.throws(() => run('{{.Label}}', row), /wrong number of args for Label: want 1 got 0/);
    assert.throws(() => run('{{.Names "x"}}', row), /Names is not a method but has arguments/);
    assert.equal(renderList('table {{.Names}}\t{{.Label "com.example.my-key"}}', [row], { Names: 'NAMES' }), 'NAMES     my key\nweb       \n');
    // Methods are not data: JSON lines leave them out.
    assert.equal(renderList('json', [row], {}), '{"Names":"web","Labels":"a.b=1"}\n');
  });
});
