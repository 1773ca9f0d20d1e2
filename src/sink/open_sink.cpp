#include "sink/open_sink.h"

#include "sink/delta/delta_sink.h"
#include "sink/parquet/dataset_store.h"
#include "sink/parquet/parquet_dataset.h"
#include "sink/postgres/connect_errors.h"
#include "sink/postgres/postgres_sink.h"

namespace clickstream::sink {

arrow::Result<std::unique_ptr<Sink>> OpenSink(const SinkOptions& options) {
  if (IsPostgresUri(options.output)) {
    if (options.format != TableFormat::kParquetDataset) {
      return arrow::Status::Invalid("--format applies to directories, not to postgresql:// outputs");
    }
    PostgresSinkOptions postgres;
    postgres.uri = options.output;
    if (!options.table.empty()) postgres.table = options.table;
    postgres.topic = options.topic;
    postgres.group = options.group;
    postgres.schema = LandedSchema(options.date_column);
    return OpenPostgresSink(postgres);
  }
  if (!options.table.empty()) return arrow::Status::Invalid("--table applies to postgresql:// outputs only");
  auto store = OpenDatasetStore(options.output);
  // A mistyped database URI (postgresq://user:secret@…) lands here: no message repeats a password.
  if (!store.ok()) return store.status().WithMessage(postgres::RedactUri(store.status().message()));
  if (options.format == TableFormat::kDelta) {
    ARROW_ASSIGN_OR_RAISE(auto table,
                          delta::DeltaTableSink::Open(delta::DeltaTableOptions{options.topic, options.group,
                                                                               options.date_column,
                                                                               options.delta_checkpoint_interval},
                                                      std::move(*store)));
    return table;
  }
  return std::make_unique<ParquetDatasetSink>(DatasetOptions{options.date_column, options.topic}, std::move(*store));
}

}  // namespace clickstream::sink
