#include "report/landed_dataset.h"

#include <filesystem>

#include <arrow/compute/initialize.h>
#include <arrow/dataset/api.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/thread_pool.h>

#include "sink/delta/table_log.h"
#include "sink/parquet/dataset_store.h"

namespace clickstream::report {

namespace {

namespace ds = arrow::dataset;
namespace fs = arrow::fs;

// Landed files only: the sink writes "*.parquet" and renames ".name.tmp" files into place, so
// anything hidden ('.', '_': temp files, Spark's _SUCCESS, staging directories) is not data yet.
bool IsLandedFile(const std::filesystem::path& relative) {
  for (const auto& part : relative) {
    const std::string name = part.string();
    if (name.empty() || name[0] == '.' || name[0] == '_') return false;
  }
  return relative.extension() == ".parquet";
}

arrow::Result<std::vector<fs::FileInfo>> ListLandedFiles(fs::FileSystem& filesystem, const std::string& root) {
  ARROW_ASSIGN_OR_RAISE(fs::FileInfo info, filesystem.GetFileInfo(root));
  if (info.type() == fs::FileType::NotFound) {
    if (filesystem.type_name() != "local") {
      return arrow::Status::Invalid("nothing stored under ", filesystem.type_name(), "://", root);
    }
    return arrow::Status::Invalid("input directory ", root, " does not exist");
  }
  if (info.type() != fs::FileType::Directory) {
    return arrow::Status::Invalid("input ", root, " is not a directory");
  }
  fs::FileSelector selector;
  selector.base_dir = root;
  selector.recursive = true;
  ARROW_ASSIGN_OR_RAISE(std::vector<fs::FileInfo> entries, filesystem.GetFileInfo(selector));
  std::vector<fs::FileInfo> files;
  for (fs::FileInfo& entry : entries) {
    if (!entry.IsFile()) continue;
    if (IsLandedFile(std::filesystem::path(entry.path()).lexically_relative(root))) files.push_back(std::move(entry));
  }
  if (files.empty()) return arrow::Status::Invalid("no Parquet files (*.parquet) under ", root);
  return files;
}

// A Delta table's current snapshot: exactly the files its log references. A glob would also read
// the files a compaction removed (kept until vacuum) and the orphans of rounds that never
// committed, counting their rows twice.
arrow::Result<std::vector<fs::FileInfo>> ListTableFiles(sink::DatasetStore* store) {
  sink::delta::TableLog log(store);
  auto snapshot = log.Load();
  if (!snapshot.ok()) return arrow::Status::Invalid("Delta table ", store->Describe(), ": ", snapshot.status().message());
  const auto& protocol = snapshot->protocol;
  if (!protocol || protocol->min_reader_version > 1) {
    return arrow::Status::Invalid("Delta table ", store->Describe(), " needs reader protocol ",
                                  protocol ? protocol->min_reader_version : 0, "; this reader reads protocol 1");
  }
  std::vector<fs::FileInfo> files;
  for (const auto& [path, add] : snapshot->files) {
    fs::FileInfo info(store->root() + "/" + path, fs::FileType::File);
    info.set_size(add.size);
    files.push_back(std::move(info));
  }
  if (files.empty()) return arrow::Status::Invalid("Delta table ", store->Describe(), " holds no data files");
  return files;
}

// Checks one file's own schema, so the message can name the file that lacks a column rather
// than fail later inside the scan (or silently read nulls).
arrow::Status CheckFileColumns(ds::Fragment& fragment, const std::vector<std::string>& columns) {
  const auto& path = static_cast<ds::FileFragment&>(fragment).source().path();
  auto schema = fragment.ReadPhysicalSchema();
  if (!schema.ok()) return arrow::Status::Invalid(path, " is not a readable Parquet file: ", schema.status().message());
  for (const std::string& name : columns) {
    if ((*schema)->GetFieldByName(name) == nullptr) {
      return arrow::Status::Invalid(path, " has no column '", name,
                                    "': is this the output of 'clickstream consume'? It has: ",
                                    (*schema)->ToString(/*truncate_metadata=*/true));
    }
  }
  return arrow::Status::OK();
}

// A consumer at its defaults lands thousands of small files; reading their footers one after the
// other costs more than the scan itself, so they are checked on the I/O thread pool. The fragments
// keep the metadata they read, so the scan does not read the footers again.
arrow::Status CheckAllFileColumns(const ds::FragmentVector& fragments, const std::vector<std::string>& columns) {
  std::vector<arrow::Future<>> checks;
  checks.reserve(fragments.size());
  for (const auto& fragment : fragments) {
    ARROW_ASSIGN_OR_RAISE(auto check, arrow::io::default_io_context().executor()->Submit(
                                          [fragment, &columns] { return CheckFileColumns(*fragment, columns); }));
    checks.push_back(std::move(check));
  }
  arrow::Status first_error;
  for (auto& check : checks) {
    const arrow::Status status = check.status();
    if (!status.ok() && first_error.ok()) first_error = status;
  }
  return first_error;
}

arrow::Result<std::shared_ptr<ds::Dataset>> OpenDataset(sink::DatasetStore* store,
                                                        const std::vector<std::string>& columns) {
  const std::shared_ptr<fs::FileSystem> filesystem = store->filesystem();
  const std::string root = store->root();
  ARROW_ASSIGN_OR_RAISE(const fs::FileInfo log, filesystem->GetFileInfo(root + "/" + sink::delta::kLogDirectory));
  std::vector<fs::FileInfo> files;
  if (log.type() == fs::FileType::Directory) {
    ARROW_ASSIGN_OR_RAISE(files, ListTableFiles(store));
  } else {
    ARROW_ASSIGN_OR_RAISE(files, ListLandedFiles(*filesystem, root));
  }
  ds::FileSystemFactoryOptions options;
  options.partitioning = ds::HivePartitioning::MakeFactory();
  options.partition_base_dir = root;
  ARROW_ASSIGN_OR_RAISE(auto factory, ds::FileSystemDatasetFactory::Make(
                                          filesystem, files, std::make_shared<ds::ParquetFileFormat>(), options));
  auto dataset = factory->Finish();
  if (!dataset.ok()) {
    return arrow::Status::Invalid("cannot read the Parquet files under ", root, ": ", dataset.status().message());
  }
  ARROW_ASSIGN_OR_RAISE(auto fragment_iterator, (*dataset)->GetFragments());
  ARROW_ASSIGN_OR_RAISE(ds::FragmentVector fragments, fragment_iterator.ToVector());
  ARROW_RETURN_NOT_OK(CheckAllFileColumns(fragments, columns));
  return *dataset;
}

}  // namespace

arrow::Result<FunnelTable> ReadFunnel(const std::string& input_dir, const std::vector<Dimension>& dimensions) {
  // Arrow 22 keeps its compute kernels in a separate library; the scanner needs them registered.
  ARROW_RETURN_NOT_OK(arrow::compute::Initialize());
  // The same store the consumer lands into (a directory or s3://…), read through its Arrow file
  // system; a missing directory is left for ListLandedFiles to report, not created.
  ARROW_ASSIGN_OR_RAISE(auto store, sink::OpenDatasetStore(input_dir, sink::MissingDirectory::kLeave));
  const std::string root = store->root();
  FunnelAggregator aggregator(dimensions);
  const std::vector<std::string> columns = aggregator.RequiredColumns();
  ARROW_ASSIGN_OR_RAISE(auto dataset, OpenDataset(store.get(), columns));

  ARROW_ASSIGN_OR_RAISE(auto builder, dataset->NewScan());
  ARROW_RETURN_NOT_OK(builder->Project(columns));
  ARROW_RETURN_NOT_OK(builder->UseThreads(true));
  // Decoded batches waiting for the aggregator are most of the memory. Landed files are small
  // (one batch each at the consumer's defaults), so reading ahead many files keeps the I/O busy
  // while holding only a few MB.
  ARROW_RETURN_NOT_OK(builder->FragmentReadahead(16));
  ARROW_RETURN_NOT_OK(builder->BatchReadahead(4));
  ARROW_ASSIGN_OR_RAISE(auto scanner, builder->Finish());
  ARROW_ASSIGN_OR_RAISE(auto reader, scanner->ToRecordBatchReader());
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (batch == nullptr) break;
    ARROW_RETURN_NOT_OK(aggregator.Consume(*batch));
  }
  FunnelTable table = aggregator.Finish();
  if (table.events == 0) return arrow::Status::Invalid("no events in the Parquet files under ", root);
  return table;
}

}  // namespace clickstream::report
