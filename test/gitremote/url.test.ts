/** URL reading, checked against the cases datalad-next's own tests pin (test_params_from_url). */
import { describe, expect, it } from 'vitest';
import { formatDataladAnnexUrl, parseDataladAnnexUrl, parseOsfUrl } from '../../src/gitremote/url.js';

const p = (u: string): string[] => parseDataladAnnexUrl(u).params;

describe('datalad-annex:: URLs', () => {
  it('reads parameters, placeholders and plain URLs as datalad-next does', () => {
    expect(p('datalad-annex::?encryption=none&type=directory&directory=/this/h')).toEqual(['encryption=none', 'type=directory', 'directory=/this/h']);
    expect(p('datalad-annex::file:///this/h?type=directory&directory={path}')).toEqual(['type=directory', 'directory=/this/h']);
    expect(p('https://ex.com/dav/proj/ds?type=webdav&url={noquery}&keyid=id@ex')).toEqual(['type=webdav', 'url=https://ex.com/dav/proj/ds', 'keyid=id@ex']);
    expect(p('http://ex.com?weirdparam=some%26amp')).toEqual(['type=web', 'exporttree=yes', 'url=http://ex.com?weirdparam=some%26amp']);
    expect(p('http://example.com/path/to/something')).toEqual(['type=web', 'exporttree=yes', 'url=http://example.com/path/to/something']);
    expect(() => p('')).toThrow(/nothing follows/);
    expect(() => p('datalad-annex::')).toThrow(/nothing follows/);
  });

  it('expands every placeholder, percent-decodes after expansion, keeps internal parameters out', () => {
    const s = parseDataladAnnexUrl(
      'datalad-annex::https://u:pw@Host.EX:8443/a%20b#frag?type=webdav&h={hostname}&p={port}&u={username}&w={password}&n={netloc}&s={scheme}&f={fragment}&x={{lit}}&dladotgit=uncompressed&dlacredential=c%2Fd',
    );
    // the fragment comes after the query in this URL, so Python's urlsplit sees no query: a plain web URL
    expect(s.params[0]).toBe('type=web');
    const t = parseDataladAnnexUrl(
      'datalad-annex::https://u:pw@Host.EX:8443/a%20b?type=webdav&h={hostname}&p={port}&u={username}&w={password}&n={netloc}&s={scheme}&q={noquery}&x={{lit}}&y=%7Bpath%7D&dladotgit=uncompressed&dlacredential=c%2Fd',
    );
    expect(t.params).toEqual([
      'type=webdav',
      'h=host.ex',
      'p=8443',
      'u=u',
      'w=pw',
      'n=u:pw@Host.EX:8443',
      's=https',
      'q=https://u:pw@Host.EX:8443/a b',
      'x={lit}',
      'y={path}',
    ]);
    expect(t.uncompressed).toBe(true);
    expect(t.credential).toBe('c/d');
    expect(t.display).not.toContain('pw');
    expect(parseDataladAnnexUrl('datalad-annex::file:///x?type=directory&p={port}').params).toEqual(['type=directory', 'p=None']);
  });

  it('formatDataladAnnexUrl writes what parseDataladAnnexUrl reads back, whatever the values hold', () => {
    const params = ['type=external', 'externaltype=annexd-webdav', 'encryption=none', 'url=https://h:8443/a b/{path}&x=1#f?q%41', 'prefix=p/.datalad-deposit/'];
    const url = formatDataladAnnexUrl(params);
    expect(url).toBe('datalad-annex::?type=external&externaltype=annexd-webdav&encryption=none&url=https://h:8443/a%20b/%7Bpath%7D%26x%3D1%23f%3Fq%2541&prefix=p/.datalad-deposit/');
    expect(parseDataladAnnexUrl(url).params).toEqual(params);
    expect(() => formatDataladAnnexUrl(['novalue'])).toThrow(/not KEY=VALUE/);
  });

  it('one clear error for what cannot be read', () => {
    expect(() => p('datalad-annex::?type=directory&directory={nope}')).toThrow(/unknown placeholder \{nope\}/);
    expect(() => p('datalad-annex::?type=directory&justaword')).toThrow(/"justaword" is not KEY=VALUE/);
    expect(() => p('datalad-annex::?encryption=none')).toThrow(/no type= parameter/);
  });
});

describe('osf:// URLs', () => {
  it('become the osf remote on the node, with the API from ?api= or the default given', () => {
    expect(parseOsfUrl('osf://ab12c', undefined).params).toEqual(['type=external', 'externaltype=osf', 'encryption=none', 'node=ab12c']);
    expect(parseOsfUrl('osf://ab12c/', 'https://osf.example/v2/').params).toContain('api=https://osf.example/v2/');
    expect(parseOsfUrl('osf://ab12c?api=http%3A//127.0.0.1%3A9/v2/', 'https://other/').params).toContain('api=http://127.0.0.1:9/v2/');
    expect(() => parseOsfUrl('osf://ab12c/sub', undefined)).toThrow(/name a whole node/);
    expect(() => parseOsfUrl('osf://a-b', undefined)).toThrow(/not an OSF node id/);
    expect(() => parseOsfUrl('osf://ab12c?token=x', undefined)).toThrow(/unknown parameter "token"/);
  });
});
