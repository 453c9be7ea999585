package dev.supportbot.elasticsearch;

import java.util.Map;

import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.IndexSettings;
import org.elasticsearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.elasticsearch.index.analysis.Analysis;
import org.elasticsearch.index.analysis.AnalyzerProvider;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

/**
 * The `english` analyzer for the local/CI node only.
 *
 * Elastic publishes its server on Maven Central as a minimal distribution without the
 * analysis-common module, where the stock `english` analyzer lives. This registers the same
 * thing under the same name: Lucene's EnglishAnalyzer (standard tokenizer, possessive and
 * lower-case filters, English stop words, keyword marker, Porter stemmer), honouring the
 * `stopwords` and `stem_exclusion` settings. Production nodes (the official image) have
 * the stock analyzer and never load this plugin.
 */
public class EnglishAnalyzerPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<?>>> getAnalyzers() {
        return Map.of("english", EnglishProvider::new);
    }

    static final class EnglishProvider extends AbstractIndexAnalyzerProvider<EnglishAnalyzer> {
        private final EnglishAnalyzer analyzer;

        EnglishProvider(IndexSettings index, Environment env, String name, Settings settings) {
            super(name, settings);
            CharArraySet stopwords = Analysis.parseStopWords(env, settings, EnglishAnalyzer.getDefaultStopSet());
            CharArraySet exclusions = Analysis.parseStemExclusion(settings, CharArraySet.EMPTY_SET);
            analyzer = new EnglishAnalyzer(stopwords, exclusions);
        }

        @Override
        public EnglishAnalyzer get() {
            return analyzer;
        }
    }
}
